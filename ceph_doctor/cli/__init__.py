"""The command line: typer commands that parse, call one function and map errors to exit codes."""
