"""Lightning callbacks of lit-vision, one job each."""
