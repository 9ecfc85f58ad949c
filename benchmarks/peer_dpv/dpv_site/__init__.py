"""A minimal Django project serving django-phone-verify's API (see ``benchmarks/peer_dpv``)."""
