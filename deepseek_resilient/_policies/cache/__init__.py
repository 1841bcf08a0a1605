"""The answer cache: the layer, its disk store, the JSON-only Disk, its files and the request key.
Private."""
