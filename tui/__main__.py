from ember.tui.cli.main import main

raise SystemExit(main())
