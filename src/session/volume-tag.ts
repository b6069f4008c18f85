/** The tag recording the root volume's size at launch (GiB), so ls can say what a stopped instance's disk costs. */
export const VOLUME_TAG = 'ssh-ec2:volume-gib';
/** The spot price (USD/hour) an instance was launched at, so the closing cost and ls can say what it costs. */
export const SPOT_PRICE_TAG = 'ssh-ec2:spot-usd';
