"""The Azure Functions app: one blueprint per event source. Behaviour lives in `core`."""

import azure.functions as func

from core.settings import load_settings
from functions import admin, ingest, monitors, retraining

# Fail at start, naming the setting, rather than on the first event.
load_settings()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ingest.bp)
app.register_functions(admin.bp)
app.register_functions(monitors.bp)
app.register_functions(retraining.bp)
