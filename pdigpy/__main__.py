from pdigpy.cli import main

raise SystemExit(main())
