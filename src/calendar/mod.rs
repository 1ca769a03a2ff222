//! Calendars, day counts, business-day conventions and schedules. (placeholder: issue 3)
