import { TrackToggle, useMediaDeviceSelect } from '@livekit/components-react';
import { Track } from 'livekit-client';

/** Microphone, camera and screen toggles, device choice, and leaving. */
export function ControlBar({ onLeave }: { onLeave: () => void }) {
  return (
    <footer className="control-bar" data-testid="control-bar">
      <div className="toggles">
        <TrackToggle source={Track.Source.Microphone} data-testid="toggle-microphone">
          Mic
        </TrackToggle>
        <TrackToggle source={Track.Source.Camera} data-testid="toggle-camera">
          Camera
        </TrackToggle>
        <TrackToggle source={Track.Source.ScreenShare} data-testid="toggle-screen">
          Screen
        </TrackToggle>
        <button type="button" className="lk-button leave" onClick={onLeave} data-testid="leave">
          Leave
        </button>
      </div>
      <div className="devices">
        <DeviceSelect kind="audioinput" label="Microphone" />
        <DeviceSelect kind="videoinput" label="Camera" />
        <DeviceSelect kind="audiooutput" label="Speaker" />
      </div>
    </footer>
  );
}

function DeviceSelect({ kind, label }: { kind: MediaDeviceKind; label: string }) {
  const { devices, activeDeviceId, setActiveMediaDevice } = useMediaDeviceSelect({ kind });
  if (devices.length === 0) return null;
  return (
    <label className="device">
      {label}
      <select
        value={activeDeviceId}
        onChange={(e) => void setActiveMediaDevice(e.target.value)}
        data-testid={`device-${kind}`}
      >
        {devices.map((d, i) => (
          <option key={d.deviceId || i} value={d.deviceId}>
            {d.label || `${label} ${i + 1}`}
          </option>
        ))}
      </select>
    </label>
  );
}
