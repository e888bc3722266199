"""From one accepted event to the outbound messages it calls for, in one transaction."""
