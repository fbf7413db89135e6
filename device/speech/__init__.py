"""Speech: Whisper ASR, the microphone and voice activity, intents, spoken answers (TTS)."""
