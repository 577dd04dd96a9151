"""project-sync's SQL repositories, its unit of work and the process API's read-side views."""
