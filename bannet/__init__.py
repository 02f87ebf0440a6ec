"""bannet: Born-Again Neural Networks (Furlanello et al., ICML 2018) from first principles."""

__version__ = "0.1.0"
