"""SO, MLFO and IML: deploying and operating the MAS pipeline (local driver today)."""
