"""importers stage: bibliographic records (PubMed XML, RIS, BibTeX, CSL-JSON, Crossref) to citation
mappings, and skeletons of studies and recommendations. Builds on ``sources``; nothing later."""
