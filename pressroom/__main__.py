"""Allow ``python -m pressroom``."""

from pressroom.cli import main

raise SystemExit(main())
