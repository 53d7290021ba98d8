"""LiveKit access for the operator: a thin typed client with errors the reconcilers can act on."""
