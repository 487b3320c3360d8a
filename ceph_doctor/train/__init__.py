"""The training core: the loop, its hooks and the recorder that writes the run store."""
