import sys

from gameserver.cli import main

if __name__ == "__main__":
    sys.exit(main())
