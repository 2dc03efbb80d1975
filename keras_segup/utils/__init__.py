"""Helpers shared by the library and its command lines: profiling and compatibility shims."""
