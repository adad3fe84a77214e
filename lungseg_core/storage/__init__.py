"""The ground floor: the store's database and its upgrades, file plumbing, and the one job runner.
Nothing here imports a higher floor of `lungseg_core`."""
