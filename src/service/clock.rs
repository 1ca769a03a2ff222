//! ClockService: the admin's control of a rehearsal server's simulated clock.
//! A server on the system clock refuses it; a simulated clock only moves forward,
//! so the recorded times of a rehearsal ledger never go back either.

use super::Services;
use super::error::ClockError;
use crate::proto as pb;
use tonic::{Request, Response, Status};

#[tonic::async_trait]
impl pb::clock_service_server::ClockService for Services {
    async fn advance_clock(
        &self,
        request: Request<pb::AdvanceClockRequest>,
    ) -> Result<Response<pb::AdvanceClockResponse>, Status> {
        let auth = self
            .auth
            .check::<pb::AdvanceClock>(request.into_inner().signed)?;
        let clock = self.clock.simulated().ok_or(ClockError::NotSimulated)?;
        let to = crate::codec::timestamp_from_pb("to", auth.command.to.as_ref()).map_err(|e| {
            ClockError::BadTime {
                message: e.to_string(),
            }
        })?;
        let now = clock.advance_to(to).map_err(|e| ClockError::Backwards {
            message: e.to_string(),
        })?;
        tracing::info!(participant = %auth.caller.participant_id, %now, "simulated clock moved");
        Ok(Response::new(pb::AdvanceClockResponse {
            now: Some(crate::codec::timestamp_to_pb(now)),
        }))
    }
}
