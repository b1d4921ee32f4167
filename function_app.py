"""The Azure Functions app: one blueprint per event source. Behaviour lives in `core`.

The app hands its in-process Event Grid dispatcher to the composition root, so the local
backend can deliver the events Azure would send (core never imports this module)."""

import azure.functions as func

from core import bootstrap
from core.settings import load_settings
from functions import admin, ingest, monitors, retraining
from functions.dispatch import EventGridDispatcher

# Fail at start, naming the setting, rather than on the first event.
load_settings()

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ingest.bp)
app.register_functions(admin.bp)
app.register_functions(monitors.bp)
app.register_functions(retraining.bp)

bootstrap.use_event_dispatcher(EventGridDispatcher(app))
