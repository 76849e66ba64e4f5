"""The people under review (subjects) and their relatives: dossiers, name search, roster import and export."""
