"""`python -m imagestudio`."""

from imagestudio.app import main

raise SystemExit(main())
