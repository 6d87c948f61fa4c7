"""What every command promises about bad input: exit status 2 and one line ``error: ...`` on stderr."""


def bad_input(main, argv, capsys) -> str:
    """The one ``error:`` line that ``main(argv)`` prints for bad input (asserting status 2 and one line)."""
    capsys.readouterr()
    status = main([str(a) for a in argv])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2, f"exit status {status}, stderr {lines}"
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]
