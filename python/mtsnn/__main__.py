"""`python -m mtsnn ...` runs the `mtsnn` command."""

from mtsnn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
