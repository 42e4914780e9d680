"""The live layer: execution state, the watcher that feeds it, and handles."""
