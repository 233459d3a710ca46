from eventpulse.interfaces.cli.main import app

app()
