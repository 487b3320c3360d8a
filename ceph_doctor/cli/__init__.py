"""The command line: click commands that parse, call one function and map errors to exit codes."""
