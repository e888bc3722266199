"""Who is who: municipalities and their services, GPs, hospitals (HER-id addressing)."""
