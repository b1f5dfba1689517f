//! HTTP to the relay: plain HTTP for local testing, HTTPS (rustls, with the
//! platform's usual web roots) in production; timeouts; large requests gzip'd.

use std::io::Write;
use std::time::Duration;

use crate::error::MobileError;

/// Requests larger than this are compressed.
const COMPRESS_ABOVE: usize = 8 << 10;

pub(crate) struct Transport {
    agent: ureq::Agent,
    base: String,
}

impl Transport {
    pub(crate) fn new(base: &str) -> Result<Transport, MobileError> {
        let base = base.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(crate::error::invalid(format!(
                "the relay address must start with https:// (or http:// for testing), not '{base}'"
            )));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .new_agent();
        Ok(Transport { agent, base })
    }

    fn answer(
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, Vec<u8>), MobileError> {
        let mut r = r.map_err(|e| MobileError::Network {
            reason: format!("the relay could not be reached ({e}); your work is safe on the phone, try again later"),
        })?;
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_vec()
            .map_err(|e| MobileError::Network {
                reason: format!("the relay's answer was cut off ({e}); try again"),
            })?;
        Ok((status, body))
    }

    fn error_text(status: u16, body: &[u8]) -> String {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("the relay answered HTTP {status}"))
    }

    /// Enrolls with a one-time code.
    pub(crate) fn enroll(
        &self,
        code: &str,
        public_key: &str,
    ) -> Result<serde_json::Value, MobileError> {
        let (status, body) = Self::answer(
            self.agent
                .post(&format!("{}/v1/enroll", self.base))
                .send_json(serde_json::json!({ "code": code, "public_key": public_key })),
        )?;
        if status != 200 {
            return Err(MobileError::NotEnrolled {
                reason: Self::error_text(status, &body),
            });
        }
        serde_json::from_slice(&body).map_err(|e| MobileError::Network {
            reason: format!("the relay's answer is not readable ({e})"),
        })
    }

    /// Registers this device's signing key (an app updated from before
    /// changes were signed).
    pub(crate) fn register_key(&self, token: &str, public_key: &str) -> Result<(), MobileError> {
        let (status, body) = Self::answer(
            self.agent
                .post(&format!("{}/v1/device-key", self.base))
                .header("Authorization", &format!("Bearer {token}"))
                .send_json(serde_json::json!({ "public_key": public_key })),
        )?;
        if status != 200 {
            return Err(MobileError::NotEnrolled {
                reason: Self::error_text(status, &body),
            });
        }
        Ok(())
    }

    /// One sync round trip.
    pub(crate) fn sync(&self, token: &str, request: &[u8]) -> Result<Vec<u8>, MobileError> {
        let req = self
            .agent
            .post(&format!("{}/v1/sync", self.base))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/octet-stream")
            .header("Accept-Encoding", "gzip");
        let result = if request.len() > COMPRESS_ABOVE {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(request)
                .and_then(|_| gz.finish())
                .map_err(|e| MobileError::Storage {
                    reason: format!("could not compress: {e}"),
                })
                .map(|body| req.header("Content-Encoding", "gzip").send(&body[..]))?
        } else {
            req.send(request)
        };
        let (status, body) = Self::answer(result)?;
        match status {
            200 => Ok(body),
            401 => Err(MobileError::NotEnrolled {
                reason: Self::error_text(status, &body),
            }),
            _ => Err(MobileError::Network {
                reason: Self::error_text(status, &body),
            }),
        }
    }
}
