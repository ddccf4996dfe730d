"""Local stand-ins for the services notifications are delivered through: APNs (HTTP/2 over
TLS), FCM HTTP v1 with Google's OAuth token endpoint, and Twilio's Messages API. Each runs in
threads of the calling process on 127.0.0.1 (port 0 by default: `base_url` says where),
answers as the real service does, records what it accepted (`GET <base>/deliveries`) and
injects faults on request (`POST <base>/faults`); common.py describes the control API."""
