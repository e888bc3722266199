"""HTTP doors: FHIR messaging intake, the pull feed, message and stay views."""
