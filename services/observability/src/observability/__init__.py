"""observability: timelines, KPIs, SLOs, parking lots and the fleet, for the SRE on call."""
