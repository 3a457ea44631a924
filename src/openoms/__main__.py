from openoms.cli import app

app()
