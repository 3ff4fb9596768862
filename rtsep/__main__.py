from rtsep.cli.main import main

raise SystemExit(main())
