import sys

from chirpstream.cli import main

sys.exit(main())
