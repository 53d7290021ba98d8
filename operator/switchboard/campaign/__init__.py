"""CallCampaign: `targets` (rows, windows; pure), `plan` (one tick; pure), `handlers`."""
