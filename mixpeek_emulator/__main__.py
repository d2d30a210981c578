"""`python -m mixpeek_emulator`: the `mixpeek-emulator` command."""

from mixpeek_emulator.cli import main

main()
