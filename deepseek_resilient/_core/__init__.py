"""The pipeline core: one call's state, the layer table, the route, deadline, hooks and events,
configs and errors. Private."""
