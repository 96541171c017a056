import sys

from consumers.main import main

sys.exit(main())
