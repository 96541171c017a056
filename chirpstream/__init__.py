"""chirpstream's command line and the settings its services share.

``chirpstream <verb>`` dispatches to each service's entry point; later the tweet schema that
ingest, consumers and dashboard share lives here too.
"""
