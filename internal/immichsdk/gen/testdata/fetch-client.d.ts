// A small fetch-client.d.ts in the shape of @immich/sdk's, with every
// construct the generator handles.
export type UnrelatedDto = {
    id: string;
};
export type SystemConfigSmtpTransportDto = {
    /** SMTP server hostname */
    host: string;
    /** SMTP password */
    password: string;
    port: number;
};
export type SystemConfigFFmpegDto = {
    /** Accepted audio codecs */
    acceptedAudioCodecs: AudioCodec[];
    /** CRF */
    crf: number;
    targetAudioCodec: AudioCodec;
    /** Two pass
     * on two lines */
    twoPass: boolean;
};
export type SystemConfigOAuthDto = {
    clientId: string;
    /** Client secret */
    clientSecret: string;
    /** Storage quota */
    defaultStorageQuota: number | null;
    /** Issuer */
    issuerUrl?: string;
    mobileOverrideEnabled: boolean;
};
export type SystemConfigDto = {
    ffmpeg: SystemConfigFFmpegDto;
    labels: {
        [key: string]: string;
    };
    nested: {
        /** Inline */
        "with-dash": number;
    };
    notifications: {
        smtp: {
            transport: SystemConfigSmtpTransportDto;
        };
    };
    oauth: SystemConfigOAuthDto;
    "level": LogLevel;
};
export declare enum AudioCodec {
    Mp3 = "mp3",
    Aac = "aac",
    Opus = "opus"
}
export declare enum LogLevel {
    Verbose = "verbose",
    Log = "log"
}
