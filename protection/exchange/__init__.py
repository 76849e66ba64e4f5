"""Exchange packages for air-gapped partner bodies (issue 21 §B): the file format and the
`hoso-exchange` console script. Pure: no Flask app, no database, so a body's machine runs it
with nothing but this package installed."""
