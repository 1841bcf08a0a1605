"""Providers: the one seam between the pipeline and a model. Private; see the package root."""
