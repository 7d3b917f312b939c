"""Container runtimes behind one CRI-shaped interface (see `base.Runtime`)."""
