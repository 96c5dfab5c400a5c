"""geoppp: land-cover maps from aerial imagery with a diffusion model as a plug-and-play prior."""

__version__ = "0.1.0"
