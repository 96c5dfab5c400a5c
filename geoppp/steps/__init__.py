"""What each kind of pipeline step does; `geoppp.pipeline` runs them in order."""
