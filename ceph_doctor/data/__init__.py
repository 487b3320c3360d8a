"""Data sets: the built-in synthetic cephalograms and loaders for ISBI 2015, Aariz and a plain folder."""
