import sys

from dashboard.main import main

sys.exit(main())
