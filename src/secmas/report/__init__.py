"""Run records, tables, plots and the files under runs/<id>/."""
